# The VM record of PROTOCOL.md from a Get-VM object (included where a script names it).
function ConvertTo-HyperctlVm($vm) {
  @{
    Id = [string]$vm.Id; Name = $vm.Name; State = $vm.State; Status = $vm.Status
    ProcessorCount = $vm.ProcessorCount; MemoryAssigned = $vm.MemoryAssigned
    MemoryStartup = $vm.MemoryStartup; DynamicMemoryEnabled = $vm.DynamicMemoryEnabled
    UptimeSeconds = [int64]$vm.Uptime.TotalSeconds; Generation = $vm.Generation
    Version = [string]$vm.Version; Path = $vm.Path; Notes = $vm.Notes
    ComputerName = $vm.ComputerName; CheckpointType = $vm.CheckpointType
    ParentSnapshotName = $vm.ParentSnapshotName
    HardDrives = @($vm.HardDrives | ForEach-Object { @{ Path = $_.Path
      ControllerType = $_.ControllerType; ControllerNumber = $_.ControllerNumber
      ControllerLocation = $_.ControllerLocation } })
    NetworkAdapters = @($vm.NetworkAdapters | ForEach-Object { @{ Name = $_.Name
      MacAddress = $_.MacAddress; SwitchName = $_.SwitchName } })
  }
}
