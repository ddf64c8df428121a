# hyperctl-op: vm.set
param($d)
# hyperctl-include: vm-record
$vm = Get-VM -Id $d.id
if ($null -ne $d.vcpus) { Set-VM -VM $vm -ProcessorCount ([int64]$d.vcpus) }
if ($null -ne $d.memory_bytes) { Set-VM -VM $vm -MemoryStartupBytes ([int64]$d.memory_bytes) }
@{ vm = ConvertTo-HyperctlVm (Get-VM -Id $d.id) }
