-- The floor: the least work that answers the same question as the pipeline, in bare DuckDB.
-- Reads the same Qualtrics exports, scores ProQOL 5 (burnout items 1, 4, 15, 17, 29 reversed) and
-- averages each subscale per wave and team. No validation, no privacy, no publishing.
-- The exports are read with export_rows (floor_read.sql).
create or replace table floor_responses as
select * from export_rows(getvariable('exports_glob'));

create or replace table floor_scores as
select
    wave,
    team,
    cast("Q1_3" as integer) + cast("Q1_6" as integer) + cast("Q1_12" as integer)
    + cast("Q1_16" as integer) + cast("Q1_18" as integer) + cast("Q1_20" as integer)
    + cast("Q1_22" as integer) + cast("Q1_24" as integer) + cast("Q1_27" as integer)
    + cast("Q1_30" as integer) as compassion_satisfaction,
    (6 - cast("Q1_1" as integer)) + (6 - cast("Q1_4" as integer)) + cast("Q1_8" as integer)
    + cast("Q1_10" as integer) + (6 - cast("Q1_15" as integer)) + (6 - cast("Q1_17" as integer))
    + cast("Q1_19" as integer) + cast("Q1_21" as integer) + cast("Q1_26" as integer)
    + (6 - cast("Q1_29" as integer)) as burnout,
    cast("Q1_2" as integer) + cast("Q1_5" as integer) + cast("Q1_7" as integer)
    + cast("Q1_9" as integer) + cast("Q1_11" as integer) + cast("Q1_13" as integer)
    + cast("Q1_14" as integer) + cast("Q1_23" as integer) + cast("Q1_25" as integer)
    + cast("Q1_28" as integer) as secondary_traumatic_stress
from floor_responses
where "Status" = '0';

create or replace table floor_team_means as
select
    wave,
    team,
    count(*) as n,
    avg(compassion_satisfaction) as compassion_satisfaction,
    avg(burnout) as burnout,
    avg(secondary_traumatic_stress) as secondary_traumatic_stress
from floor_scores
group by wave, team;
