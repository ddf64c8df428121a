# hyperctl-op: migrate.import
param($d)
# hyperctl-include: vm-record
# A copy with a new Id: the export stays as it is, the disks go to
# vhd_destination, the configuration (and checkpoints, smart paging) to vm_path.
$report = Compare-VM -Path $d.vmcx -Copy -GenerateNewId -VhdDestinationPath $d.vhd_destination -VirtualMachinePath $d.vm_path -SnapshotFilePath $d.vm_path -SmartPagingFilePath $d.vm_path
$problems = @($report.Incompatibilities)
if ($problems.Count -gt 0) {
  Write-Error -Message ('The virtual machine cannot be imported: ' + (($problems | ForEach-Object { [string]$_.Message }) -join '; ')) -Category InvalidOperation -ErrorAction Stop
}
$vm = Import-VM -CompatibilityReport $report
@{ vm = ConvertTo-HyperctlVm (Get-VM -Id $vm.Id) }
