from tests.labs.conftest import labs, no_celery  # noqa: F401
from tests.registry.fixtures import registry_files, registry_ready  # noqa: F401
