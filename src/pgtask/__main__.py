from pgtask.cli import main

main()
