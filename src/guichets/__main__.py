from guichets.cli import main

main()
