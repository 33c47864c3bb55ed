import Agent

#if DEBUG
let buildConfiguration = "debug"
#else
let buildConfiguration = "release"
#endif

// `buildCommit` and `buildCommitDate` come from the BuildStamp plugin (scripts/build-stamp.sh).
await AgentMain.main(build: BuildInfo(commit: buildCommit, commitDate: buildCommitDate, configuration: buildConfiguration))
