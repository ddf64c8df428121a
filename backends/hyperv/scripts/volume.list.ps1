# hyperctl-op: volume.list
param($d)
# Every .vhd/.vhdx file directly in the folder (-LiteralPath: no wildcards
# in the user's path), with Get-VHD's facts.
$volumes = @()
$files = @(Get-ChildItem -LiteralPath $d.path -File | Where-Object { $_.Extension -eq '.vhd' -or $_.Extension -eq '.vhdx' })
foreach ($file in $files) {
  $vhd = Get-VHD -Path $file.FullName
  $volumes += @{ Path = $vhd.Path; VhdFormat = $vhd.VhdFormat; VhdType = $vhd.VhdType; Size = $vhd.Size
                 FileSize = $vhd.FileSize; ParentPath = $vhd.ParentPath; Attached = $vhd.Attached }
}
@{ volumes = $volumes }
