# hyperctl-op: host.info
param($d)
$h = Get-VMHost
$os = Get-CimInstance -ClassName Win32_OperatingSystem
$cpu = @(Get-CimInstance -ClassName Win32_Processor)[0]
@{ host = @{ ComputerName = $h.ComputerName; LogicalProcessorCount = $h.LogicalProcessorCount
    MemoryCapacity = $h.MemoryCapacity; FreeMemoryBytes = [int64]$os.FreePhysicalMemory * 1024
    OsVersion = $os.Version; ProcessorName = $cpu.Name; ProcessorManufacturer = $cpu.Manufacturer
    VirtualHardDiskPath = $h.VirtualHardDiskPath; VirtualMachinePath = $h.VirtualMachinePath
    ModuleVersion = [string](Get-Module -Name Hyper-V).Version } }
