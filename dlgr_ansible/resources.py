"""Where the Ansible content shipped with the package lives."""

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def share_dir() -> Path:
    """The directory holding playbooks/, roles/ and inventory_templates/.

    A wheel ships them in the package (``dlgr_ansible/share``); a source checkout
    or editable install keeps them at the top of the repository.
    """
    installed = _PACKAGE / "share"
    if (installed / "playbooks").is_dir():
        return installed
    return _PACKAGE.parent


def playbooks_dir() -> Path:
    return share_dir() / "playbooks"


def roles_dir() -> Path:
    return share_dir() / "roles"


def inventory_templates_dir() -> Path:
    return share_dir() / "inventory_templates"
