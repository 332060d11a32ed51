from rabbitmq_preflight.entry import main

main()
