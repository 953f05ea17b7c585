from dlgr_ansible.cli import main

main()
