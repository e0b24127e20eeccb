-- The server's journal events (staged in the temp table audit_moved) that audit_log lacks.
insert into audit_log
select moved.*
from audit_moved as moved
anti join audit_log as logged on moved.event_id = logged.event_id
