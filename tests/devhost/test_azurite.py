"""devhost.azurite: a private Azurite on chosen ports, on disk or in memory."""

from __future__ import annotations

import os

from azure.data.tables import TableServiceClient

from devhost.azurite import start_azurite
from testing.devhost import free_port


def test_an_in_memory_azurite_serves_and_writes_no_data_files(tmp_path: os.PathLike[str]) -> None:
    ports = (free_port(), free_port(), free_port())
    azurite = start_azurite(str(tmp_path), ports=ports, in_memory=True)
    try:
        with TableServiceClient.from_connection_string(azurite.connection_string) as service:
            service.create_table("inmemory")
            assert [table.name for table in service.list_tables()] == ["inmemory"]
    finally:
        azurite.stop()
    assert sorted(os.listdir(tmp_path)) == ["azurite.log"]
