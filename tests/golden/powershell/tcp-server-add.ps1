# The program behind socketlab engine e1: a TCP add server on 127.0.0.1:5000: it answers each "A,B" with the sum.
# Run it: pwsh e1_add_server.ps1
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
