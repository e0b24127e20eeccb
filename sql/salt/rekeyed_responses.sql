-- Every stored response with its key made with the new salt (key: response_key), its columns in
-- the table's order. A response no export of the folder holds has no new key: the rotation
-- refuses before it gets here (see unmatched_responses.sql).
select raw_responses.* replace (key_pairs.new_key as response_key)
from raw_responses
inner join key_pairs on key_pairs.old_key = raw_responses.response_key
