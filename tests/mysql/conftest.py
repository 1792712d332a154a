from tests.mysql.fixtures import mydb, mysql_dsn, mysql_server, new_mysql_database  # noqa: F401
