-- A published number as people quote it: a share (or a change of one) to 3 decimals, a tenth of a
-- percentage point; a mean score (or a change of one) to 2 decimals. The marts publish it beside
-- the number at full precision, which is the one to compute with.
create or replace temp macro rounded_for_reading(number, kind) as
    round(number, if(kind = 'share', 3, 2))
