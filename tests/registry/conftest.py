from tests.registry.fixtures import registry_files, registry_ready  # noqa: F401
