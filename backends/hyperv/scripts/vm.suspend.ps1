# hyperctl-op: vm.suspend
param($d)
# hyperctl-include: vm-record
$vm = Get-VM -Id $d.id
Suspend-VM -VM $vm
@{ vm = ConvertTo-HyperctlVm (Get-VM -Id $d.id) }
