-- Whether a row of `wave` is rebuilt by this build: every wave in a whole build (the variable
-- rebuilt_waves is NULL), only the listed waves in an incremental one. The models incremental by
-- wave read their inputs through it, and the runner deletes their old rows of those waves with it.
create or replace temp macro in_rebuilt_waves(wave) as
    getvariable('rebuilt_waves') is null
    or list_contains(getvariable('rebuilt_waves'), wave)
