"""The PostgreSQL client against the real server (the contract in sql_contract.py)."""

from __future__ import annotations

from {{ cookiecutter.package_name }}.clients.postgresql import PostgreSQLClient, PostgreSQLSettings

from . import sql_contract


class PostgreSQL(sql_contract.SqlClient):
    client_class = PostgreSQLClient
    settings_class = PostgreSQLSettings
    url_variable = "POSTGRESQL_URL"
    pool_setting = "POSTGRESQL_POOL_SIZE"
    answer_query = "SELECT $1::int + 1 AS answer"
    slow_query = "SELECT pg_sleep(3)"


class TestPostgreSQLClient(PostgreSQL, sql_contract.SqlClientContract):
    pass


class PostgreSQLConcurrencyTest(PostgreSQL, sql_contract.ConcurrencyContract):
    pass
