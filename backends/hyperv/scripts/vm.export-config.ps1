# hyperctl-op: vm.export-config
param($d)
# hyperctl-include: vm-record
$vm = Get-VM -Id $d.id
$record = ConvertTo-HyperctlVm $vm
foreach ($p in $vm.PSObject.Properties) {
  if ($record.ContainsKey($p.Name)) { continue }
  $v = $p.Value
  if ($null -eq $v -or $v -is [string] -or $v -is [ValueType]) { $record[$p.Name] = $v }
  else { $record[$p.Name] = [string]$v }
}
@{ vm = $record }
