# hyperctl-op: volume.create
param($d)
if (Test-Path -LiteralPath $d.path) {
  Write-Error -Message ('The file ' + $d.path + ' already exists.') -Category ResourceExists -ErrorAction Stop
}
if ($d.dynamic) {
  $vhd = New-VHD -Path $d.path -SizeBytes ([UInt64]$d.size_bytes) -Dynamic
} else {
  $vhd = New-VHD -Path $d.path -SizeBytes ([UInt64]$d.size_bytes) -Fixed
}
@{ volume = @{ Path = $vhd.Path; VhdFormat = $vhd.VhdFormat; VhdType = $vhd.VhdType; Size = $vhd.Size
               FileSize = $vhd.FileSize; ParentPath = $vhd.ParentPath; Attached = $vhd.Attached } }
