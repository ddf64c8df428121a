# hyperctl-op: vm.create
param($d)
# hyperctl-include: vm-record
$params = @{ Name = $d.name; Generation = [int16]$d.generation
  MemoryStartupBytes = [int64]$d.memory_bytes }
if ($d.path) { $params.Path = $d.path }
if ($d.new_vhd_path) {
  $params.NewVHDPath = $d.new_vhd_path; $params.NewVHDSizeBytes = [uint64]$d.new_vhd_bytes
} elseif ($d.vhd_path) { $params.VHDPath = $d.vhd_path } else { $params.NoVHD = $true }
if ($d.switch) { $params.SwitchName = $d.switch }
$vm = New-VM @params
try {
  Set-VM -VM $vm -ProcessorCount ([int64]$d.vcpus)
} catch {
  Remove-VM -VM $vm -Force
  if ($d.new_vhd_path) { Remove-Item -LiteralPath $d.new_vhd_path -Force -ErrorAction SilentlyContinue }
  throw
}
@{ vm = ConvertTo-HyperctlVm (Get-VM -Id $vm.Id) }
