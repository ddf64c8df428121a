# hyperctl-op: volume.delete
param($d)
if (-not (Test-Path -LiteralPath $d.path -PathType Leaf)) {
  Write-Error -Message ('The virtual hard disk ' + $d.path + ' does not exist.') -Category ObjectNotFound -ErrorAction Stop
}
# Checked here too: a VM may have taken it since hyperctl looked.
$full = (Get-Item -LiteralPath $d.path).FullName
$users = @(Get-VM | Where-Object { @($_.HardDrives | Where-Object { $_.Path -eq $full }).Count -gt 0 })
if ($users.Count -gt 0) {
  Write-Error -Message ('The virtual hard disk ' + $full + ' is in use by ' + (($users | ForEach-Object { $_.Name }) -join ', ') + '.') -Category InvalidOperation -ErrorAction Stop
}
Remove-Item -LiteralPath $d.path -Force
@{}
