# hyperctl-op: migrate.import
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
# A copy with a new Id: the export stays as it is, the disks go to
# vhd_destination, the configuration (and checkpoints, smart paging) to vm_path.
$report = Compare-VM -Path $d.vmcx -Copy -GenerateNewId -VhdDestinationPath $d.vhd_destination -VirtualMachinePath $d.vm_path -SnapshotFilePath $d.vm_path -SmartPagingFilePath $d.vm_path
$problems = @($report.Incompatibilities)
if ($problems.Count -gt 0) {
  Write-Error -Message ('The virtual machine cannot be imported: ' + (($problems | ForEach-Object { [string]$_.Message }) -join '; ')) -Category InvalidOperation -ErrorAction Stop
}
$vm = Import-VM -CompatibilityReport $report
@{ vm = ConvertTo-HyperctlVm (Get-VM -Id $vm.Id) }
