# hyperctl-op: vm.save
param($d)
# hyperctl-include: vm-record
$vm = Get-VM -Id $d.id
Save-VM -VM $vm
@{ vm = ConvertTo-HyperctlVm (Get-VM -Id $d.id) }
