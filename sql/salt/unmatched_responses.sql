-- How many stored responses no export of the folder holds: their new key cannot be made.
select count(*) as unmatched
from raw_responses
anti join key_pairs on key_pairs.old_key = raw_responses.response_key
