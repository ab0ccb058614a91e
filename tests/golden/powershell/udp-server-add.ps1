# The program behind socketlab engine e1: a UDP add server on 127.0.0.1:5000: it answers each "A,B" with the sum.
# Run it: pwsh e1_udp_add_server.ps1
# (Stop engine e1 first: only one program at a time can use 127.0.0.1:5000.)
$HostName = '127.0.0.1'
$Port = 5000
$Utf8 = [System.Text.Encoding]::UTF8

function Add-Message([string]$data) {
    # The sum of each "A,B" message, as the lecture's add server answers.
    $out = ''
    $parts = $data -split "`n"
    for ($i = 0; $i -lt $parts.Count; $i++) {
        $line = $parts[$i]
        $nl = if ($i -lt $parts.Count - 1) { "`n" } else { '' }
        if ($line -eq '' -and $nl -eq '') { continue }
        $ab = $line.Trim() -split ','
        $a = [System.Numerics.BigInteger]::Zero; $b = [System.Numerics.BigInteger]::Zero
        if ($ab.Count -eq 2 -and [System.Numerics.BigInteger]::TryParse($ab[0].Trim(), [ref]$a) -and [System.Numerics.BigInteger]::TryParse($ab[1].Trim(), [ref]$b)) {
            $out += ($a + $b).ToString() + $nl
        } else {
            $out += "error: send two integers like 50,40`n"
        }
    }
    return $out
}

function Get-Reply([string]$data, [string]$peer) {
    return (Add-Message $data)
}

$endpoint = [System.Net.IPEndPoint]::new([System.Net.IPAddress]::Parse($HostName), $Port)
$udp = [System.Net.Sockets.UdpClient]::new($endpoint)   # socket(), bind()
Write-Host "bound to ${HostName}:$Port"
while ($true) {
    $from = [System.Net.IPEndPoint]::new([System.Net.IPAddress]::Any, 0)
    $datagram = $udp.Receive([ref]$from)              # recvfrom(): a datagram and who sent it
    $data = $Utf8.GetString($datagram)
    Write-Host "received $data from $from"
    $reply = Get-Reply $data "$from"
    if ($reply) {
        $bytes = $Utf8.GetBytes($reply)
        $udp.Send($bytes, $bytes.Length, $from) | Out-Null   # sendto()
    }
}
