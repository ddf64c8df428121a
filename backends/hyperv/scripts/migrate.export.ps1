# hyperctl-op: migrate.export
param($d)
# Export-VM writes <path>\<VM name>\Virtual Machines\<Id>.vmcx (and the
# disks beside it); the configuration file is found by the VM's Id.
$vm = Get-VM -Id $d.id
Export-VM -VM $vm -Path $d.path
$config = @(Get-ChildItem -LiteralPath $d.path -Recurse -File -Filter '*.vmcx' | Where-Object { $_.BaseName -eq $vm.Id.ToString() })
if ($config.Count -eq 0) {
  Write-Error -Message ('Export-VM left no configuration file for ' + $vm.Id.ToString() + ' under ' + $d.path + '.') -Category ObjectNotFound -ErrorAction Stop
}
@{ vmcx = $config[0].FullName }
