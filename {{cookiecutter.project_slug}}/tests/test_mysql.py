"""The MySQL client against the real server (the contract in sql_contract.py)."""

from __future__ import annotations

from {{ cookiecutter.package_name }}.clients.mysql import MySQLClient, MySQLSettings

from . import sql_contract


class MySQL(sql_contract.SqlClient):
    client_class = MySQLClient
    settings_class = MySQLSettings
    url_variable = "MYSQL_URL"
    pool_setting = "MYSQL_POOL_SIZE"
    answer_query = "SELECT %s + 1 AS answer"
    slow_query = "SELECT SLEEP(3)"


class TestMySQLClient(MySQL, sql_contract.SqlClientContract):
    pass


class MySQLConcurrencyTest(MySQL, sql_contract.ConcurrencyContract):
    pass
