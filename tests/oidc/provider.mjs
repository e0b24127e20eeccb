// A real OpenID Connect provider (the certified `oidc-provider` package) on 127.0.0.1, for the
// sign-in tests of `resilience serve`. Its accounts and their groups come from the environment;
// its own login and consent pages (devInteractions) accept any password for a known account.
//
//   OIDC_PORT, OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, OIDC_REDIRECT_URI,
//   OIDC_ACCOUNTS='{"mia": {"email": "mia@example.org", "groups": ["resilience-manager:T002"]}}'
import Provider from 'oidc-provider';

const port = Number(process.env.OIDC_PORT);
const accounts = JSON.parse(process.env.OIDC_ACCOUNTS);

const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [
    {
      client_id: process.env.OIDC_CLIENT_ID,
      client_secret: process.env.OIDC_CLIENT_SECRET,
      redirect_uris: [process.env.OIDC_REDIRECT_URI],
      response_types: ['code'],
      grant_types: ['authorization_code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  // Every authorization request must carry a PKCE challenge, as the server always sends one.
  pkce: { required: () => true },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
    groups: ['groups'],
  },
  findAccount: async (ctx, id) =>
    accounts[id] && {
      accountId: id,
      claims: async () => ({ sub: id, email_verified: true, ...accounts[id] }),
    },
  cookies: { keys: ['test-only-cookie-key'] },
  features: { devInteractions: { enabled: true } },
});
// Plain http on 127.0.0.1 is what a test has; the provider's checks stay on otherwise.
provider.proxy = false;
provider.listen(port, '127.0.0.1', () => console.log(`listening on ${port}`));
