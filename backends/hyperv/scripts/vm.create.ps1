# hyperctl-op: vm.create
param($d)
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
$params = @{ Name = $d.name; Generation = [int16]$d.generation
  MemoryStartupBytes = [int64]$d.memory_bytes }
if ($d.path) { $params.Path = $d.path }
if ($d.new_vhd_path) {
  $params.NewVHDPath = $d.new_vhd_path; $params.NewVHDSizeBytes = [uint64]$d.new_vhd_bytes
} elseif ($d.vhd_path) { $params.VHDPath = $d.vhd_path } else { $params.NoVHD = $true }
if ($d.switch) { $params.SwitchName = $d.switch }
$vm = New-VM @params
try {
  Set-VM -VM $vm -ProcessorCount ([int64]$d.vcpus)
} catch {
  Remove-VM -VM $vm -Force
  if ($d.new_vhd_path) { Remove-Item -LiteralPath $d.new_vhd_path -Force -ErrorAction SilentlyContinue }
  throw
}
@{ vm = ConvertTo-HyperctlVm (Get-VM -Id $vm.Id) }
