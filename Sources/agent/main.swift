import Agent

await AgentMain.main()
