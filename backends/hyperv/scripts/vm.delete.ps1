# hyperctl-op: vm.delete
param($d)
$vm = Get-VM -Id $d.id
$files = @()
if ($d.with_storage) { $files = @($vm.HardDrives | ForEach-Object { $_.Path } | Where-Object { $_ }) }
Remove-VM -VM $vm -Force
foreach ($f in $files) { Remove-Item -LiteralPath $f -Force }
@{ deleted_files = $files }
