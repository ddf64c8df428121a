# hyperctl-op: volume.delete
param($d)
if (-not (Test-Path -LiteralPath $d.path -PathType Leaf)) {
  Write-Error -Message ('The virtual hard disk ' + $d.path + ' does not exist.') -Category ObjectNotFound -ErrorAction Stop
}
# Checked here too: a VM may have taken it since hyperctl looked. A VM uses
# the file when a drive of it or of one of its checkpoints is that file or
# stands on it through Get-VHD's ParentPath chain (.avhdx -> base .vhdx).
$full = (Get-Item -LiteralPath $d.path).FullName
$users = @(Get-VM | Where-Object {
  $drives = @(Get-VMHardDiskDrive -VM $_)
  foreach ($cp in @(Get-VMSnapshot -VM $_)) { $drives += @(Get-VMHardDiskDrive -VMSnapshot $cp) }
  $hit = $false
  foreach ($drive in $drives) {
    $p = $drive.Path
    while ($p -and -not $hit) {
      if ($p -eq $full) { $hit = $true }
      $vhd = Get-VHD -Path $p -ErrorAction SilentlyContinue
      if ($vhd) { $p = $vhd.ParentPath } else { $p = $null }
    }
  }
  $hit
})
if ($users.Count -gt 0) {
  Write-Error -Message ('The virtual hard disk ' + $full + ' is in use by ' + (($users | ForEach-Object { $_.Name }) -join ', ') + '.') -Category InvalidOperation -ErrorAction Stop
}
Remove-Item -LiteralPath $d.path -Force
@{}
