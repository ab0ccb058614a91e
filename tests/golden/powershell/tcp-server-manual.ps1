# The program behind socketlab engine e1: a TCP manual server on 127.0.0.1:5000: you type what it sends.
# Run it: pwsh e1_manual_server.ps1
# (Stop engine e1 first: only one program at a time can use 127.0.0.1:5000.)
$HostName = '127.0.0.1'
$Port = 5000
$Utf8 = [System.Text.Encoding]::UTF8

function Get-Reply([string]$data, [string]$peer) {
    return (Read-Host 'reply') + "`n"
}

$listener = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Parse($HostName), $Port)   # socket(), bind()
$listener.Start(5)                                 # listen()
Write-Host "listening on ${HostName}:$Port"
while ($true) {
    $client = $listener.AcceptTcpClient()          # accept(): a new socket for this client
    $stream = $client.GetStream()
    Write-Host "connection from $($client.Client.RemoteEndPoint)"
    $buffer = New-Object byte[] 1024
    while (($n = $stream.Read($buffer, 0, $buffer.Length)) -gt 0) {   # recv()
        $data = $Utf8.GetString($buffer, 0, $n)
        Write-Host "received $data"
        $reply = Get-Reply $data "$($client.Client.RemoteEndPoint)"
        if ($reply) {
            $bytes = $Utf8.GetBytes($reply)
            $stream.Write($bytes, 0, $bytes.Length)     # send()
        }
    }
    $client.Close()                                 # close()
}
