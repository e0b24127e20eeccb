-- One row per published table and column (key: table_name, column_name): the file's own
-- documentation, in column order. meaning, unit, allowed_values and precision come from
-- sql/marts/columns.toml, table_description from the header comment of the table's model; the
-- same text is on the tables and columns as their comments (duckdb_tables(), duckdb_columns()).
-- A column nothing describes has a null meaning here, and publishing stops on it.
create table candidate.data_dictionary (
    table_name varchar,
    column_position integer,
    column_name varchar,
    data_type varchar,
    meaning varchar,
    unit varchar,
    allowed_values varchar,
    precision varchar,
    table_description varchar
);

insert into candidate.data_dictionary
with columns_published as (
    select table_name, column_name, data_type, column_index
    from duckdb_columns()
    where database_name = 'candidate'
),

described_columns as (
    select * from column_descriptions
),

final as (
    select
        columns_published.table_name,
        columns_published.column_index as column_position,
        columns_published.column_name,
        columns_published.data_type,
        coalesce(own.meaning, shared.meaning) as meaning,
        if(own.meaning is null, shared.unit, own.unit) as unit,
        if(own.meaning is null, shared.allowed_values, own.allowed_values) as allowed_values,
        if(own.meaning is null, shared.precision, own.precision) as precision,
        table_descriptions.description as table_description
    from columns_published
    left join table_descriptions using (table_name)
    left join described_columns as own
        on own.table_name = columns_published.table_name
        and own.column_name = columns_published.column_name
    left join described_columns as shared
        on shared.table_name is null
        and shared.column_name = columns_published.column_name
    order by columns_published.table_name, columns_published.column_index
)

select * from final;
