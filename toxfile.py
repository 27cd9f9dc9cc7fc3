"""tox's inline plugin: the full-stack envs (py311, type, report, isa-*) share one folder, .tox/full.

tox 4 records in each env folder the name of the env that last set it up, and recreates the
folder when another env name finds it (``recreate env because env type changed from {'name':
'type', ...} to {'name': 'py311', ...}``): sharing ``env_dir`` alone cost a full reinstall of the
1.7 GB stack (about 7.5 minutes here) at every switch between those envs.  Their dependencies and
package are identical (``requirements.lock``, editable), so the folder is keyed by its one name,
``full``, instead: a switch reuses it, and tox still reinstalls when the lock file changes.

``runner = full-stack`` in tox.ini selects this runner.  Its setup (creating the folder, installing
into it) holds a lock beside the folder: two runs setting up one folder at once (``tox -p`` of two
full-stack envs, or two terminals) crashed virtualenv or reinstalled the package into it twice at
once; their commands may still run side by side once it is set up.
"""
from __future__ import annotations

from typing import Any

from filelock import FileLock
from tox.plugin import impl
from tox.tox_env.info import Info
from tox.tox_env.python.virtual_env.runner import VirtualEnvRunner
from tox.tox_env.register import ToxEnvRegister

#: the name every full-stack env records in its folder
SHARED_NAME = "full"


class _OneNameInfo(Info):
    """The folder's setup record, in which every full-stack env goes by :data:`SHARED_NAME`."""

    def compare(self, value: Any, section: str, sub_section: str | None = None):
        if section == "ToxEnv" and isinstance(value, dict):
            value = {**value, "name": SHARED_NAME}
        return super().compare(value, section, sub_section)


class FullStackRunner(VirtualEnvRunner):
    """A virtualenv runner whose folder is shared by every env of this type (see the module's docstring)."""

    @staticmethod
    def id() -> str:
        return "full-stack"

    @property
    def cache(self) -> Info:
        return _OneNameInfo(self.env_dir)

    def setup(self) -> None:
        self.env_dir.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(self.env_dir.parent / f"{self.env_dir.name}.lock"):
            super().setup()


@impl
def tox_register_tox_env(register: ToxEnvRegister) -> None:
    register.add_run_env(FullStackRunner)
