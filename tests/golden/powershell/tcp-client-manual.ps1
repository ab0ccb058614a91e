# The program behind socketlab engine e1: a TCP client of 127.0.0.1:5000: you type what it sends.
# Run it: pwsh e1_manual_client.ps1
$HostName = '127.0.0.1'
$Port = 5000
$Utf8 = [System.Text.Encoding]::UTF8

$client = [System.Net.Sockets.TcpClient]::new($HostName, $Port)   # socket(), connect()
$stream = $client.GetStream()
Write-Host "connected from $($client.Client.LocalEndPoint)"   # the ephemeral port
$buffer = New-Object byte[] 1024
while ($null -ne ($line = [Console]::In.ReadLine())) {   # each line you type
    $bytes = $Utf8.GetBytes($line + "`n")
    $stream.Write($bytes, 0, $bytes.Length)          # send()
    Start-Sleep -Milliseconds 200                    # give the reply a moment
    while ($stream.DataAvailable) {
        $n = $stream.Read($buffer, 0, $buffer.Length)    # recv()
        Write-Host "received $($Utf8.GetString($buffer, 0, $n))"
    }
}
$client.Client.Shutdown([System.Net.Sockets.SocketShutdown]::Send)   # no more to send
while (($n = $stream.Read($buffer, 0, $buffer.Length)) -gt 0) {   # recv()
    $data = $Utf8.GetString($buffer, 0, $n)
    Write-Host "received $data"
}
$client.Close()                                  # close()
