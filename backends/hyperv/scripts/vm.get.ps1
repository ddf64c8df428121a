# hyperctl-op: vm.get
param($d)
# hyperctl-include: vm-record
@{ vm = ConvertTo-HyperctlVm (Get-VM -Id $d.id) }
