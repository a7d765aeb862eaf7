// The host arrives with the pipeline issue; until then the executable only proves the solution builds.
Console.Error.WriteLine("metrics-collector: not wired yet");
return 1;
