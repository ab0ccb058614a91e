# The program behind socketlab engine e1: a UDP manual server on 127.0.0.1:5000: you type what it sends.
# Run it: pwsh e1_udp_manual_server.ps1
# (Stop engine e1 first: only one program at a time can use 127.0.0.1:5000.)
$HostName = '127.0.0.1'
$Port = 5000
$Utf8 = [System.Text.Encoding]::UTF8

function Get-Reply([string]$data, [string]$peer) {
    return (Read-Host 'reply') + "`n"
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
