from rabbitmq_preflight.cli import main

main()
