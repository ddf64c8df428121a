# hyperctl-op: volume.convert
param($d)
# Convert-VHD takes the new format from the destination's extension and
# keeps the type (fixed/dynamic) of the source.
if (-not (Test-Path -LiteralPath $d.path -PathType Leaf)) {
  Write-Error -Message ('The virtual hard disk ' + $d.path + ' does not exist.') -Category ObjectNotFound -ErrorAction Stop
}
if (Test-Path -LiteralPath $d.destination) {
  Write-Error -Message ('The file ' + $d.destination + ' already exists.') -Category ResourceExists -ErrorAction Stop
}
Convert-VHD -Path $d.path -DestinationPath $d.destination
$vhd = Get-VHD -Path $d.destination
@{ volume = @{ Path = $vhd.Path; VhdFormat = $vhd.VhdFormat; VhdType = $vhd.VhdType; Size = $vhd.Size
               FileSize = $vhd.FileSize; ParentPath = $vhd.ParentPath; Attached = $vhd.Attached } }
