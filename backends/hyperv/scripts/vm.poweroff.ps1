# hyperctl-op: vm.poweroff
param($d)
# hyperctl-include: vm-record
$vm = Get-VM -Id $d.id
Stop-VM -VM $vm -TurnOff -Force
@{ vm = ConvertTo-HyperctlVm (Get-VM -Id $d.id) }
