# hyperctl-op: vm.set
param($d)
# hyperctl-include: vm-record
$vm = Get-VM -Id $d.id
# All or nothing: a memory Hyper-V refuses puts the processor count back.
$processors = $vm.ProcessorCount
if ($null -ne $d.vcpus) { Set-VM -VM $vm -ProcessorCount ([int64]$d.vcpus) }
if ($null -ne $d.memory_bytes) {
  try { Set-VM -VM $vm -MemoryStartupBytes ([int64]$d.memory_bytes) }
  catch {
    if ($null -ne $d.vcpus) { Set-VM -VM $vm -ProcessorCount $processors }
    throw
  }
}
@{ vm = ConvertTo-HyperctlVm (Get-VM -Id $d.id) }
