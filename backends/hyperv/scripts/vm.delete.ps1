# hyperctl-op: vm.delete
param($d)
$vm = Get-VM -Id $d.id
# hyperctl counted the checkpoints before; counted again here, as one may
# have been taken since. Nothing is changed when they are not to go.
$checkpoints = @(Get-VMSnapshot -VM $vm)
if ($checkpoints.Count -gt 0 -and -not $d.snapshots) {
  Write-Error -Message ('The virtual machine ' + $vm.Name + ' has ' + $checkpoints.Count + ' checkpoints.') -Category InvalidOperation -ErrorAction Stop
}
# A disk and the parents it stands on: with checkpoints a drive's Path is the
# newest .avhdx, and Get-VHD's ParentPath leads to the base .vhdx. Strict for
# this VM's disks (a missing file stops everything before anything is
# removed); for other VMs' a missing file ends their chain.
function Get-HyperctlChain($path, $strict) {
  $chain = @()
  while ($path) {
    if ($strict) { $vhd = Get-VHD -Path $path } else { $vhd = Get-VHD -Path $path -ErrorAction SilentlyContinue }
    if (-not $vhd) { break }
    $chain += $vhd.Path
    $path = $vhd.ParentPath
  }
  $chain
}
# The files a VM stands on: its drives' and its checkpoints' drives' chains.
function Get-HyperctlFiles($v, $strict) {
  $drives = @(Get-VMHardDiskDrive -VM $v)
  foreach ($cp in @(Get-VMSnapshot -VM $v)) { $drives += @(Get-VMHardDiskDrive -VMSnapshot $cp) }
  foreach ($drive in $drives) { if ($drive.Path) { Get-HyperctlChain $drive.Path $strict } }
}
$mine = @()
if ($d.with_storage) { $mine = @(Get-HyperctlFiles $vm $true) }
# Every file another VM stands on, with the names of those VMs (the keys of a
# PowerShell hashtable compare without case, as Windows paths do).
$users = @{}
if ($mine.Count -gt 0) {
  foreach ($other in @(Get-VM | Where-Object { $_.Id -ne $vm.Id })) {
    foreach ($f in @(Get-HyperctlFiles $other $false)) {
      if (-not $users.ContainsKey($f)) { $users[$f] = @() }
      if ($users[$f] -notcontains $other.Name) { $users[$f] += $other.Name }
    }
  }
}
Remove-VM -VM $vm -Force
$deleted = @()
$kept = @()
$seen = @{}
foreach ($f in $mine) {
  if ($seen.ContainsKey($f)) { continue }
  $seen[$f] = $true
  if ($users.ContainsKey($f)) {
    $kept += @{ path = $f; used_by = @($users[$f]) }
  } else {
    Remove-Item -LiteralPath $f -Force
    $deleted += $f
  }
}
@{ deleted = $deleted; kept = $kept }
