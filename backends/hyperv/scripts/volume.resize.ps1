# hyperctl-op: volume.resize
param($d)
if (-not (Test-Path -LiteralPath $d.path -PathType Leaf)) {
  Write-Error -Message ('The virtual hard disk ' + $d.path + ' does not exist.') -Category ObjectNotFound -ErrorAction Stop
}
Resize-VHD -Path $d.path -SizeBytes ([UInt64]$d.size_bytes)
$vhd = Get-VHD -Path $d.path
@{ volume = @{ Path = $vhd.Path; VhdFormat = $vhd.VhdFormat; VhdType = $vhd.VhdType; Size = $vhd.Size
               FileSize = $vhd.FileSize; ParentPath = $vhd.ParentPath; Attached = $vhd.Attached } }
