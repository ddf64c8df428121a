# hyperctl-op: vm.shutdown
param($d)
# hyperctl-include: vm-record
$vm = Get-VM -Id $d.id
Stop-VM -VM $vm -Force
@{ vm = ConvertTo-HyperctlVm (Get-VM -Id $d.id) }
