"""dlgr-ansible: deploy Dallinger and PsyNet experiments to your own servers with Ansible.

Importing this package reads no files and opens no connections.
"""

__version__ = "0.1.0"
