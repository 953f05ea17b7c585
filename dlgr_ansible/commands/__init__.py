"""One function per command, grouped by noun: what each command does, without click.

Each takes a Session (dlgr_ansible.session) and the command's options, does the
planning, builds the playbook's variables, runs it, reads what it handed back, and
returns a report (dlgr_ansible.reports). Printing is the CLI's (dlgr_ansible.cli).
"""
